"""Alert messages for a Slack-compatible incoming webhook, and their delivery.

Nothing here knows Dagster: :class:`Alert` holds a title, labelled fields, an optional longer
text and an optional link, :meth:`Alert.to_payload` turns it into Slack's JSON
(``{"text": ..., "blocks": [...]}``; receivers that ignore ``blocks``, such as Mattermost, show
``text``), and :func:`post_alert` posts it with the standard library.

A webhook URL is a secret (whoever holds it can post to the channel), so errors name only its
host, never the URL or its path.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# Slack's limits: header text 150 characters, 10 fields per section, 2000 characters per
# field, 3000 per section text.
HEADER_CHARS = 150
FIELDS_PER_SECTION = 10
FIELD_CHARS = 1900
DETAILS_CHARS = 2800
RESPONSE_EXCERPT_CHARS = 200


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept an alert: an HTTP status outside 2xx, a redirect, a timeout or
    no connection. The message names the webhook's host and the status, never the URL."""

    def __init__(self, host: str, reason: str, status: int | None = None) -> None:
        self.host = host
        self.status = status
        super().__init__(f"Alert webhook at {host} did not accept the alert: {reason}")


@dataclass(frozen=True)
class Alert:
    """One message: a title, ``(label, value)`` fields, an optional longer text shown as a code
    block (an error, a check's description) and an optional ``(url, label)`` link."""

    title: str
    summary: str
    fields: Sequence[tuple[str, str]] = ()
    details: str | None = None
    link: tuple[str, str] | None = None

    def to_payload(self) -> dict[str, Any]:
        """Slack's incoming-webhook JSON: ``text`` (the notification and the fallback of
        receivers without blocks) and ``blocks`` (header, fields, details, link)."""
        text = f"*{_escape(self.title)}*: {_escape(self.summary)}"
        if self.link:
            text += f" <{self.link[0]}|{_escape(self.link[1])}>"
        blocks: list[dict[str, Any]] = [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _clip(self.title, HEADER_CHARS)},
            },
            _text_section(_escape(self.summary)),
        ]
        fields = [
            {"type": "mrkdwn", "text": f"*{_escape(label)}*\n{_clip(_escape(value), FIELD_CHARS)}"}
            for label, value in self.fields
        ]
        for start in range(0, len(fields), FIELDS_PER_SECTION):
            blocks.append({"type": "section", "fields": fields[start : start + FIELDS_PER_SECTION]})
        if self.details:
            details = _clip(_escape(self.details.strip()), DETAILS_CHARS).replace("```", "'''")
            blocks.append(_text_section(f"```{details}```"))
        if self.link:
            url, label = self.link
            blocks.append(_text_section(f"<{url}|{_escape(label)}>"))
        return {"text": text, "blocks": blocks}


def run_failure_alert(
    job_name: str, run_id: str, error: str, partition: str | None = None, run_url: str | None = None
) -> Alert:
    """The alert for a failed run: job, partition, run id and the error."""
    fields = [("Job", job_name), ("Partition", partition or "—"), ("Run id", run_id)]
    week = f" (partition {partition})" if partition else ""
    return Alert(
        title=f"Run failed: {job_name}",
        summary=f"Run {run_id} of {job_name}{week} failed.",
        fields=fields,
        details=error,
        link=(run_url, "Open the run in Dagster") if run_url else None,
    )


def check_failure_alert(
    check_name: str,
    asset: str,
    severity: str,
    *,
    partition: str | None = None,
    description: str | None = None,
    figures: Mapping[str, str] | None = None,
    job_name: str | None = None,
    run_id: str | None = None,
    run_url: str | None = None,
) -> Alert:
    """The alert for a failed asset check: check, asset, severity, partition, run, the check's
    description and a few of its metadata figures."""
    fields = [
        ("Check", f"{asset} · {check_name}"),
        ("Severity", severity),
        ("Partition", partition or "—"),
        ("Job", job_name or "—"),
        ("Run id", run_id or "—"),
    ]
    if figures:
        fields.append(("Figures", ", ".join(f"{name}={value}" for name, value in figures.items())))
    week = f" for partition {partition}" if partition else ""
    return Alert(
        title=f"Check failed ({severity}): {check_name}",
        summary=f"Check {check_name} on {asset} failed with severity {severity}{week}.",
        fields=fields,
        details=description,
        link=(run_url, "Open the run in Dagster") if run_url else None,
    )


def webhook_host(url: str) -> str:
    """The host (and port) of a webhook URL: what errors may name instead of the URL."""
    return urlsplit(url).netloc.rsplit("@", 1)[-1] or "<no host>"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET without the body: report it instead
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def post_alert(url: str, payload: Mapping[str, Any], timeout_seconds: float) -> int:
    """POST ``payload`` as JSON to the webhook ``url``; returns the HTTP status (2xx).

    Raises :class:`AlertDeliveryError` naming the host and the status (or the network error)
    for any other outcome; the URL, which is a secret, appears in no error.
    """
    host = webhook_host(url)
    if urlsplit(url).scheme not in ("http", "https"):
        raise AlertDeliveryError(host, "the webhook URL is not an http(s) URL")
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout_seconds) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        body = _redact(exc.read(RESPONSE_EXCERPT_CHARS).decode("utf-8", "replace"), url)
        answer = f": {body.strip()}" if body.strip() else ""
        raise AlertDeliveryError(host, f"HTTP {exc.code}{answer}", status=exc.code) from None
    except TimeoutError:
        raise AlertDeliveryError(host, f"no answer within {timeout_seconds:g} s") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise AlertDeliveryError(host, _redact(f"connection failed ({reason})", url)) from None
    if not 200 <= status < 300:
        raise AlertDeliveryError(host, f"HTTP {status}", status=status)
    return status


def _redact(text: str, url: str) -> str:
    path = urlsplit(url).path
    text = text.replace(url, "<webhook>")
    return text.replace(path, "/…") if len(path) > 1 else text


def _text_section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def _escape(text: str) -> str:
    # the three characters Slack's mrkdwn wants escaped
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
