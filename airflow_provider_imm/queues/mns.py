"""MNS as a message queue of common.messaging: ``MessageQueueTrigger(scheme="alibaba+mns", ...)``.

Registered under the provider info's ``queues``. Needs ``apache-airflow-providers-common-messaging``
(the ``messaging`` extra); without it this module says what to install, and the trigger itself,
:class:`~airflow_provider_imm.triggers.mns_event.MnsEventTrigger`, still works in an ``AssetWatcher``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.exceptions import AirflowOptionalProviderFeatureException

try:
    from airflow.providers.common.messaging.providers.base_provider import BaseMessageQueueProvider
except ImportError as err:
    raise AirflowOptionalProviderFeatureException(
        "MessageQueueTrigger(scheme='alibaba+mns') needs apache-airflow-providers-common-messaging: "
        "pip install 'airflow-provider-imm[messaging]' (or use "
        "airflow_provider_imm.triggers.mns_event.MnsEventTrigger directly)"
    ) from err

from airflow_provider_imm.triggers.mns_event import SCHEME

if TYPE_CHECKING:
    from airflow.triggers.base import BaseEventTrigger


class MnsMessageQueueProvider(BaseMessageQueueProvider):
    """Scheme ``alibaba+mns``; the trigger's keyword arguments are
    :class:`~airflow_provider_imm.triggers.mns_event.MnsEventTrigger`'s."""

    scheme = SCHEME

    def trigger_class(self) -> type[BaseEventTrigger]:
        from airflow_provider_imm.triggers.mns_event import MnsEventTrigger

        return MnsEventTrigger
