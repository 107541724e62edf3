"""Evidence reports in the stack's S3 bucket: reports/<executionId>/report.{json,html,md}.

The bucket is versioned (a report re-written after its cleanup keeps the earlier version), encrypted with the stack
key by default, and blocks public access; its lifecycle rule ages old versions out (see the template).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

FORMATS = ("json", "html", "md")


class ReportError(Exception):
    """S3 refused a report write."""


class ReportArchive:
    """Writes an execution's evidence report in every format."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    @staticmethod
    def key(execution_id: str, fmt: str) -> str:
        """Where one format of an execution's report lives."""
        return f"reports/{execution_id}/report.{fmt}"

    def put(self, evidence: dict[str, Any]) -> dict[str, str]:
        """Write the three formats; format -> S3 version id (or "" where the bucket is not versioned)."""
        from drwave.core.evidence_render import render  # noqa: PLC0415 - cold start: only the report writer renders

        versions = {}
        for fmt in FORMATS:
            content_type, body = render(evidence, fmt)
            try:
                response = self._s3.put_object(
                    Bucket=self.bucket,
                    Key=self.key(evidence["executionId"], fmt),
                    Body=body.encode("utf-8"),
                    ContentType=content_type,
                    Metadata={"content-sha256": evidence["contentSha256"], "report-version": evidence["reportVersion"]},
                )
            except ClientError as err:
                raise ReportError(str(err)) from err
            versions[fmt] = response.get("VersionId") or ""
        return versions
