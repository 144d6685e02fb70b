"""A report a person can keep: one self-contained HTML page per analysis, printable to PDF.

Typical use::

    from inference.report import html_report, write_report

    write_report("clip-report.html", html_report(result, detector.settings))
"""

from inference.report.build import CONTENT_SECURITY_POLICY, failure_report, html_report, write_report
from inference.report.sections import Options

__all__ = ["CONTENT_SECURITY_POLICY", "Options", "failure_report", "html_report", "write_report"]
