"""Names that become paths: run ids and export names.

A name given on the command line is one path component, checked before
anything is written: `..` would put a run in the task folder itself (over
its config.toml), `""` in `runs/`, and `../../x` outside the task.
"""

from rnnkit.templates.errors import UsageError


def path_component(value, flag):
    """`value` if it is a plain name (not empty, no `/` or `\\`, not
    starting with `.`); otherwise a `UsageError` naming `flag`."""
    value = str(value)
    bad = (
        not value
        or value.startswith(".")
        or any(c in value for c in "/\\\0")
        or value != value.strip()
    )
    if bad:
        raise UsageError(
            f"{flag} must be a plain name: not empty, without '/' or '\\', not "
            f"starting with '.' or a space. Received: {flag} {value!r}"
        )
    return value
