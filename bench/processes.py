"""Process trees and their memory, read from /proc (Linux), for the benchmarks."""

from __future__ import annotations

from pathlib import Path


def process_tree(root: int) -> list[int]:
    """``root`` and every descendant that is running now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def memory_kb(pid: int) -> dict[str, int]:
    """The process's ``VmRSS`` (now) and ``VmHWM`` (its peak since its last exec) in KiB;
    empty when it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in status.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, value = line.split()[:2]
            out[name.rstrip(":")] = int(value)
    return out
