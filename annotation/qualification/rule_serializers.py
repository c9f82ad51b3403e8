"""The one validator of a protocol's pass rules, used by the protocol API (``apis.ProtocolSerializer``) and
the admin pages' protocol and "what if" forms (``frontend/views_qualification.py``), so every caller gets
the same field-level messages. One field per registered rule kind (``annotation.pass_rules.PASS_RULES``):
the number is parsed here, the rule object's ``validate()`` says what is wrong with it."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from annotation.pass_rules import PASS_RULES, RuleBase, rule_for


class PassRuleField(serializers.FloatField):
    """A rule's threshold: a number, then the rule object's own validation."""

    def __init__(self, rule: type[RuleBase], **kwargs: Any) -> None:
        self.rule = rule
        kwargs.setdefault(
            "help_text",
            f"{rule.label}: {rule(threshold=rule.default).description()} "
            f"(default {rule.default:g}, between {rule.bounds[0]:g} and {rule.bounds[1]:g}).",
        )
        kwargs.setdefault(
            "error_messages",
            {"invalid": f"{rule.label} must be a number.", "null": f"{rule.label} is required."},
        )
        kwargs["min_value"], kwargs["max_value"] = rule.bounds  # documented in the schema; checked below
        super().__init__(**kwargs)
        # The rule's message (with its reason) instead of DRF's generic bound messages.
        self.validators = [v for v in self.validators if not hasattr(v, "limit_value")]

    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        messages = self.rule(threshold=value).validate()
        if messages:
            raise serializers.ValidationError(messages)
        return value


class PassRulesSerializer(serializers.Serializer):
    """``{max_mae, min_mean_srcc, max_abs_bias}`` (one per registered kind); ``partial=True`` for updates."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {kind: PassRuleField(rule, required=True) for kind, rule in PASS_RULES.items()}


class PassRuleOutputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(PASS_RULES))
    threshold = serializers.FloatField()
    description = serializers.CharField()


def pass_rule_rows(values: dict[str, float]) -> list[dict[str, Any]]:
    """The rules of a protocol, for output: kind, threshold, description."""
    rules = [rule_for(kind, values[kind]) for kind in PASS_RULES]
    return [{"kind": r.kind, "threshold": r.threshold, "description": r.description()} for r in rules]


def pass_rule_errors(
    data: Any, *, blank_is_absent: bool = False
) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Validate the pass-rule fields present in ``data`` (a dict or a QueryDict) with
    ``PassRulesSerializer``: ``(values, errors)``. In a form, blank fields count as absent (they keep
    their current values)."""
    present = {
        k: data.get(k)
        for k in PASS_RULES
        if k in data and not (blank_is_absent and str(data.get(k) or "").strip() == "")
    }
    serializer = PassRulesSerializer(data=present, partial=True)
    if serializer.is_valid():
        return dict(serializer.validated_data), {}
    return {}, {k: [str(m) for m in v] for k, v in serializer.errors.items()}
