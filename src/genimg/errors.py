"""The one exception type for mistakes a user can fix (bad config, bad file, bad shape).

The CLI turns a ``UserError`` into a one-line message and exit code 2, without a traceback.
Every message names the problem and how to fix it.
"""


class UserError(Exception):
    """A problem in the user's input, configuration or files, with a message saying how to fix it."""
