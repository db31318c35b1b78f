"""Lambda's advanced logging controls, the same on every function.

By default Lambda writes START, END and REPORT lines for every invocation to CloudWatch
Logs, which bills every byte ingested; with several invocations per view that is a
line item of its own. In JSON format the system log level WARN drops those three lines
(their figures stay in the free Duration, Errors and Throttles metrics), and the
application log level INFO keeps every line handlers/log.py writes: each is a JSON
object with a valid `level`, which Lambda filters on.

Pure constants, so the bench's cost model can read them without importing Pulumi.
"""

from __future__ import annotations

from typing import Final

LOG_FORMAT: Final = "JSON"
"""Log-level filtering works only with the JSON format."""
SYSTEM_LOG_LEVEL: Final = "WARN"
"""Drops START, END and REPORT (INFO); keeps Lambda's own warnings and errors."""
APPLICATION_LOG_LEVEL: Final = "INFO"
"""Everything our code logs (handlers/log.py writes info, warn and error only)."""
