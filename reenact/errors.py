"""One exception family for everything a user can get wrong.

Library code raises these where the problem is known, with a message that says what is wrong
and what to do; only the CLI turns them into one line and an exit code.
"""

from __future__ import annotations


class ReenactError(Exception):
    """Base class: a problem the user can fix. The message is shown as is."""

    exit_code = 1


class InputError(ReenactError):
    """A missing, unreadable, corrupt or otherwise unusable input file or argument."""

    exit_code = 2


class OutputError(ReenactError):
    """An output that cannot or must not be written (exists, unwritable, same as an input)."""

    exit_code = 3


class NoFaceError(InputError):
    """No face was found where one is needed."""


class AssetError(ReenactError):
    """A model file or asset is missing, has the wrong version, or fails its checksum."""

    exit_code = 4


class NotAvailableError(ReenactError):
    """A stage that this build cannot run yet (or not on this machine)."""

    exit_code = 5
