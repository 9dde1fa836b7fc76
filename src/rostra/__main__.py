from rostra.cli import main

main()
