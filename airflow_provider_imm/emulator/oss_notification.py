"""OSS event notifications: the emulator's rules, and the publishing of each matching change.

:class:`OssEventNotifier` listens to :class:`LocalOss` (every write and delete, whatever made it)
and publishes OSS's event message to each matching rule's MNS topic, once per rule, through the
MNS store, so subscriptions wrap it in their content format as any topic message. Rules and
publishing run on the server loop (:meth:`ServiceContext.call`), like all service state.
"""

from __future__ import annotations

import base64
import uuid

from airflow_provider_imm.emulator.context import ServiceContext
from airflow_provider_imm.emulator.mns_store import MnsError, MnsStore
from airflow_provider_imm.emulator.oss import ObjectChange
from airflow_provider_imm.emulator.oss_events import (
    MAX_RULES,
    OssEventRule,
    OssEventRuleError,
    event_message,
    matches,
)


class OssEventNotifier:
    """The event rules of the emulated region, and the listener that applies them to ``oss``."""

    def __init__(self, context: ServiceContext, mns: MnsStore) -> None:
        self._context = context
        self._mns = mns
        self._rules: dict[str, OssEventRule] = {}
        context.oss.subscribe(self.notify)

    # Rules (thread-safe)
    def add_rule(self, rule: OssEventRule) -> OssEventRule:
        """Add ``rule`` and create its topic if missing; a rule's name is taken once (OSS's rules
        cannot be modified: remove one and add it again)."""
        return self._context.call(self._add, rule)

    def remove_rule(self, name: str) -> bool:
        """Remove the rule called ``name``; False when there was none."""
        return self._context.call(lambda: self._rules.pop(name, None) is not None)

    def rules(self) -> list[OssEventRule]:
        return self._context.call(lambda: list(self._rules.values()))

    def _add(self, rule: OssEventRule) -> OssEventRule:
        if rule.name in self._rules:
            raise OssEventRuleError("name", f"a rule named {rule.name!r} exists; remove it first")
        if len(self._rules) >= MAX_RULES:
            raise OssEventRuleError("name", f"OSS allows {MAX_RULES} rules in a region; remove one first")
        if rule.topic not in self._mns.topics:  # MNS makes a topic for each rule it is given
            self._mns.create_topic(rule.topic)
        self._rules[rule.name] = rule
        return rule

    # The listener of LocalOss
    def notify(self, change: ObjectChange) -> bool:
        """Publish ``change`` to the topic of every rule it matches; whether any matched."""
        if not self._rules:  # no rule, no trip to the loop (writes before the emulator starts too)
            return False
        return bool(self._context.call(self._notify, change))

    def _notify(self, change: ObjectChange) -> bool:
        selected = [rule for rule in self._rules.values() if matches(rule, change)]
        for rule in selected:
            body = event_message(
                rule,
                change,
                region=self._context.region,
                account_id=self._context.account_id,
                epoch=self._context.clock.time(),
                request_id=uuid.uuid4().hex[:24].upper(),
            )
            if rule.base64:
                body = base64.b64encode(body.encode()).decode()
            try:
                self._mns.publish(rule.topic, body)
            except MnsError:
                # The topic was deleted since: OSS answers the request all the same.
                continue
        return bool(selected)
