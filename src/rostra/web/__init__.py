"""rostra.web"""
