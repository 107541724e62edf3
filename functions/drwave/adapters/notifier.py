"""SNS notifier: publishes operator notifications to the notification topic."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drwave.core.notifications import Notification


class SnsNotifier:
    """Publishes one message per notification: text for e-mail, JSON for machines, attributes for filtering."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._sns = client
        self._topic = topic_arn

    def notify(self, notification: Notification) -> str:
        """Publish; returns SNS's message id (errors propagate so Lambda retries the event)."""
        response = self._sns.publish(
            TopicArn=self._topic,
            Subject=notification.subject,
            Message=json.dumps(notification.protocol_messages()),
            MessageStructure="json",
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in notification.attributes().items()
            },
        )
        return str(response["MessageId"])
