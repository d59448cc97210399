"""Self-test settings shared by every file.

Under CI=true hypothesis replays a fixed sequence of examples (derandomize, no example database):
the pre-merge gate must not turn red on an example nobody has seen before. Random exploration
happens on developers' machines, where a new failure is a finding, fixed before it reaches CI.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")
