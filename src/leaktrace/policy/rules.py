"""The named rules: one class per check, each with a stable id, a severity and its clauses.

Clause marks follow the research file: ✅ seen in a public source, ◐ weak
source, ○ recalled and unverified. Hashed identifiers count like plain ones
in every rule (research C12: a hash is de-identification, not anonymisation),
so no rule filters on ``form``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from leaktrace.declaration import DEVICE_ID_TYPES, FrequencyLimit
from leaktrace.policy.context import (
    BACKGROUND_EVENT,
    CLEARTEXT_TRANSPORTS,
    FOREGROUND_EVENT,
    PolicyContext,
    app_states,
    state_at,
)
from leaktrace.policy.model import Clause, Level, Recipient, RuleInfo, RuleResult
from leaktrace.policy.parties import host_in, share_declared, shares_covering
from leaktrace.types import Finding

# Clauses, worded after the research file's "The checks" table.
METHOD_2_1 = Clause("认定方法 (2019) 二.1", "embedded third-party code must be disclosed", "✅")
METHOD_3_1 = Clause(
    "认定方法 (2019) 三.1", "collecting personal information before the user agrees", "✅"
)
METHOD_3_3 = Clause("认定方法 (2019) 三.3", "collecting beyond the scope the user agreed to", "✅")
METHOD_3_9 = Clause("认定方法 (2019) 三.9", "collection that does not match what was stated", "✅")
METHOD_4_4 = Clause("认定方法 (2019) 四.4", "collection frequency beyond business need", "○")
METHOD_5_1 = Clause(
    "认定方法 (2019) 五.1",
    "providing to third parties directly from the client, including via embedded "
    "third-party code and plug-ins, without consent",
    "✅",
)
NOTICE_2019_SHARE = Clause(
    "MIIT notice Nov 2019 (APP侵害用户权益专项整治)",
    "私自共享给第三方: sharing device identifiers, browsing history, app lists with third parties",
    "✅",
)
NOTICE_2019_COLLECT = Clause(
    "MIIT notice Nov 2019 (APP侵害用户权益专项整治)", "私自收集个人信息", "✅"
)
NOTICE_2019_FREQ = Clause(
    "MIIT notice Nov 2019 (APP侵害用户权益专项整治)", "超范围或超频次收集", "✅"
)
NOTICE_2021_LISTS = Clause(
    "MIIT notice Nov 2021 (信息通信服务感知提升行动)",
    "double lists: 已收集个人信息清单 and 与第三方共享个人信息清单",
    "✅",
)
PIPL_13_14 = Clause("PIPL Arts. 13–14", "consent as the basis of processing", "○")
METHOD_3_2 = Clause(
    "认定方法 (2019) 三.2",
    "collecting personal information after the user refused or withdrew consent",
    "✅",
)
PIPL_15 = Clause("PIPL Art. 15", "the right to withdraw consent", "○")
PIPL_23 = Clause(
    "PIPL Art. 23",
    "providing PI to another processor needs the recipient, purpose, method and types "
    "told to the user, and separate consent",
    "✅",
)
PIPL_28 = Clause("PIPL Art. 28", "sensitive PI includes financial accounts and whereabouts", "✅")
PIPL_29 = Clause(
    "PIPL Art. 29", "processing sensitive PI needs the individual's separate consent", "○"
)
PIPL_51 = Clause("PIPL Art. 51", "security measures such as encryption", "○")
PIPL_4_73 = Clause("PIPL Arts. 4, 73", "de-identified data is still personal information", "○")
GBT35273_6_3A = Clause(
    "GB/T 35273-2020 6.3 a)", "传输和存储个人敏感信息时，应采用加密等安全措施", "✅"
)
GBT45574 = Clause("GB/T 45574-2025", "security requirements for sensitive PI processing", "✅")
GBT41391_ANNEX_F = Clause(
    "GB/T 41391-2022 Annex C/F",
    "specific PI types; common unchangeable unique device identifiers (annexes exist; "
    "text unverified)",
    "○",
)
GBT41391_6_1 = Clause("GB/T 41391-2022 6.1", "最小必要收集 (minimum necessary collection)", "○")

SHARE_UNDISCLOSED = RuleInfo(
    "LT-SHARE-UNDISCLOSED",
    "Identifier shared with a third party the shares list does not name for it",
    "high",
    (METHOD_5_1, METHOD_2_1, NOTICE_2019_SHARE, PIPL_23, NOTICE_2021_LISTS, PIPL_4_73),
    undisclosed=True,
)
COLLECT_UNDISCLOSED = RuleInfo(
    "LT-COLLECT-UNDISCLOSED",
    "Identifier collected by the first party but missing from the collects list",
    "medium",
    (METHOD_3_3, METHOD_3_9, NOTICE_2021_LISTS, PIPL_4_73),
    undisclosed=True,
)
BEFORE_CONSENT = RuleInfo(
    "LT-BEFORE-CONSENT",
    "Identifier sent before the user agreed",
    "high",
    (METHOD_3_1, NOTICE_2019_COLLECT, PIPL_13_14),
)
CLEARTEXT_SENSITIVE = RuleInfo(
    "LT-CLEARTEXT-SENSITIVE",
    "Sensitive personal information sent without encryption",
    "high",
    (GBT35273_6_3A, GBT45574, PIPL_28, PIPL_51),
)
DEVICE_ID_OUT_OF_SCOPE = RuleInfo(
    "LT-DEVICE-ID-OUT-OF-SCOPE",
    "Device identifier or app list sent although the declaration says it is not needed",
    "medium",
    (NOTICE_2019_SHARE, GBT41391_ANNEX_F, GBT41391_6_1, PIPL_4_73),
)
SENSITIVE_SHARED = RuleInfo(
    "LT-SENSITIVE-SHARED",
    "Sensitive personal information shared with a third party without separate consent",
    "medium",
    (PIPL_28, PIPL_29, PIPL_23),
)
AFTER_WITHDRAWAL = RuleInfo(
    "LT-AFTER-WITHDRAWAL",
    "Identifier still sent after the user withdrew consent",
    "high",
    (METHOD_3_2, PIPL_15),
)
FREQUENCY = RuleInfo(
    "LT-FREQUENCY",
    "Identifier sent to one party more often than the allowed rate",
    "low",
    (NOTICE_2019_FREQ, METHOD_4_4, GBT41391_6_1),
)


class Rule(Protocol):
    info: RuleInfo

    def check(self, ctx: PolicyContext) -> RuleResult: ...


def _no_declaration(info: RuleInfo) -> RuleResult:
    return RuleResult(info, checked=False, why_not="no declaration (--app app.yaml)")


def _who(recipient: Recipient) -> str:
    return recipient.key if recipient.company is None else f"{recipient.key} ({recipient.company})"


class ShareUndisclosed:
    """C3: a type reached a third party whose ``shares`` entry (if any) omits that type."""

    info = SHARE_UNDISCLOSED

    def check(self, ctx: PolicyContext) -> RuleResult:
        decl = ctx.declaration
        if decl is None:
            return _no_declaration(self.info)
        result = RuleResult(self.info)
        third = [f for f in ctx.findings if f.party != "first" and not share_declared(decl, f)]
        for recipient, kind, items in ctx.group(third):
            named = shares_covering(decl, items[0])
            if named:
                listed = ", ".join(sorted({t for s in named for t in s.types})) or "nothing"
                why = f"{kind} sent to {_who(recipient)}, whose shares entry lists only {listed}"
            else:
                why = f"{kind} sent to {_who(recipient)}, which the shares list does not name"
            result.verdicts.append(ctx.verdict(self.info, recipient, kind, items, why))
        return result


class CollectUndisclosed:
    """C4: the first party received a type its ``collects`` list leaves out."""

    info = COLLECT_UNDISCLOSED

    def check(self, ctx: PolicyContext) -> RuleResult:
        if ctx.declaration is None:
            return _no_declaration(self.info)
        declared = ctx.declaration.collected_types
        result = RuleResult(self.info)
        first = [f for f in ctx.findings if f.party == "first" and f.type not in declared]
        for recipient, kind, items in ctx.group(first):
            why = f"{kind} received by the first party ({recipient.key}) but not in collects"
            result.verdicts.append(ctx.verdict(self.info, recipient, kind, items, why))
        return result


class BeforeConsent:
    """C1: any identifier sent before the consent point (or with consent never given)."""

    info = BEFORE_CONSENT

    def check(self, ctx: PolicyContext) -> RuleResult:
        if ctx.declaration is None:
            return _no_declaration(self.info)
        if ctx.consent is None:
            return RuleResult(self.info, checked=False, why_not=ctx.consent_why_not)
        at = ctx.consent.ts
        early = [f for f in ctx.findings if at is None or f.ts < at]
        result = RuleResult(self.info)
        for recipient, kind, items in ctx.group(early):
            if at is None:
                why = f"{kind} sent to {_who(recipient)}; consent never given ({ctx.consent.basis})"
            else:
                lead = at - items[0].ts
                why = f"{kind} sent to {_who(recipient)} {lead:.1f} s before consent"
            detail = [("consent", ctx.consent.basis)]
            result.verdicts.append(
                ctx.verdict(self.info, recipient, kind, items, why, detail=detail)
            )
        return result


class AfterWithdrawal:
    """C2: any identifier sent after the user withdrew consent, until consent is given again."""

    info = AFTER_WITHDRAWAL

    def check(self, ctx: PolicyContext) -> RuleResult:
        if ctx.declaration is None:
            return _no_declaration(self.info)
        point = ctx.withdrawal
        if point is None:
            return RuleResult(self.info, checked=False, why_not=ctx.withdrawal_why_not)
        at = point.ts
        if at is None:  # the session never exercised it: nothing here says the app obeys
            why = f"consent was not withdrawn in this session ({point.basis})"
            return RuleResult(self.info, checked=False, why_not=why)
        until = ctx.regranted
        late = [f for f in ctx.findings if f.ts >= at and (until is None or f.ts < until)]
        result = RuleResult(self.info)
        for recipient, kind, items in ctx.group(late):
            lag = items[0].ts - at
            why = f"{kind} sent to {_who(recipient)} {lag:.1f} s after consent was withdrawn"
            detail = [("withdrawal", point.basis)]
            if until is not None:
                detail.append(("consent again", f"{until - at:.1f} s later"))
            result.verdicts.append(
                ctx.verdict(self.info, recipient, kind, items, why, detail=detail)
            )
        return result


class SensitiveShared:
    """C10: a sensitive type given to a third party that the shares list names for it, where
    the entry does not say the user consents to it separately. Undeclared sharing is
    LT-SHARE-UNDISCLOSED's: without an entry there is no consent to look at."""

    info = SENSITIVE_SHARED

    def check(self, ctx: PolicyContext) -> RuleResult:
        decl = ctx.declaration
        if decl is None:
            return _no_declaration(self.info)
        sensitive = ctx.sensitive_types()
        shared = [
            f
            for f in ctx.findings
            if f.party != "first" and f.type in sensitive and share_declared(decl, f)
        ]
        result = RuleResult(self.info)
        for recipient, kind, items in ctx.group(shared):
            entries = [s for s in shares_covering(decl, items[0]) if kind in s.types]
            stated = {s.separate_consent for s in entries}
            level: Level | None = None  # by the findings' confidence
            if True in stated:
                continue
            if False in stated:
                why = f"{kind} shared with {_who(recipient)} without separate consent, as declared"
            else:
                why = (
                    f"{kind} shared with {_who(recipient)}; its shares entry does not say the "
                    "user consents to it separately (separate_consent)"
                )
                level = "warning"  # the app did not say: the UI may still ask
            result.verdicts.append(ctx.verdict(self.info, recipient, kind, items, why, level=level))
        return result


class CleartextSensitive:
    """C9: sensitive personal information over a transport anyone on the path can read."""

    info = CLEARTEXT_SENSITIVE

    def check(self, ctx: PolicyContext) -> RuleResult:
        sensitive = ctx.sensitive_types()
        clear = [
            f for f in ctx.findings if f.type in sensitive and f.transport in CLEARTEXT_TRANSPORTS
        ]
        result = RuleResult(self.info)
        for recipient, kind, items in ctx.group(clear):
            transports = "/".join(sorted({f.transport for f in items}))
            why = f"{kind} sent to {_who(recipient)} in clear text over {transports}"
            result.verdicts.append(ctx.verdict(self.info, recipient, kind, items, why))
        return result


class DeviceIdOutOfScope:
    """C5/C6: immutable device identifiers or app lists the declaration says are not needed."""

    info = DEVICE_ID_OUT_OF_SCOPE

    def check(self, ctx: PolicyContext) -> RuleResult:
        if ctx.declaration is None:
            return _no_declaration(self.info)
        allowed = ctx.declaration.allowed_device_ids
        if allowed is None:
            return RuleResult(
                self.info,
                checked=False,
                why_not="the declaration does not say which device identifiers the app "
                "needs (needs_device_ids:)",
            )
        out_of_scope = DEVICE_ID_TYPES - allowed
        hits = [f for f in ctx.findings if f.type in out_of_scope]
        result = RuleResult(self.info)
        needed = ", ".join(sorted(allowed)) or "none"
        for recipient, kind, items in ctx.group(hits):
            why = f"{kind} sent to {_who(recipient)}; the app declares it needs {needed}"
            result.verdicts.append(ctx.verdict(self.info, recipient, kind, items, why))
        return result


class Frequency:
    """C7: one type to one party more often than a rate, optionally only in the background.

    Counts messages, not findings: one request carrying a coordinate in two
    fields is one collection.
    """

    info = FREQUENCY

    def check(self, ctx: PolicyContext) -> RuleResult:
        declared = ctx.declaration.frequency if ctx.declaration is not None else None
        limits = declared if declared is not None else list(ctx.settings.default_frequency)
        result = RuleResult(self.info)
        intervals = app_states(ctx.events)
        skipped: list[str] = []
        for limit in limits:
            if limit.state != "any" and not intervals:
                skipped.append(
                    f"{limit.type} in the {limit.state}: no {BACKGROUND_EVENT}/"
                    f"{FOREGROUND_EVENT} marks in the timeline"
                )
                continue
            self._check_limit(ctx, limit, intervals, result, declared is not None)
        if skipped and len(skipped) == len(limits):
            return RuleResult(self.info, checked=False, why_not="; ".join(skipped))
        return result

    def _check_limit(
        self,
        ctx: PolicyContext,
        limit: FrequencyLimit,
        intervals: Sequence[tuple[float, float | None, str]],
        result: RuleResult,
        declared: bool,
    ) -> None:
        chosen = [
            f
            for f in ctx.findings
            if f.type == limit.type
            and (limit.party is None or _names(limit.party, f, ctx))
            and (limit.state == "any" or state_at(intervals, f.ts) == limit.state)
        ]
        for recipient, kind, items in ctx.group(chosen):
            window = _busiest_window(items, limit.per_s)
            messages = len({(f.flow, f.trans_depth, f.ts) for f in window})
            if messages <= limit.max:
                continue
            state = "" if limit.state == "any" else f" in the {limit.state}"
            why = (
                f"{kind} sent to {_who(recipient)} {messages} times within {limit.per_s:g} s"
                f"{state} (limit {limit.max} per {limit.per_s:g} s"
                f"{'' if declared else ', default'})"
            )
            detail = [
                ("limit", f"{limit.max} per {limit.per_s:g} s"),
                ("messages_in_window", str(messages)),
                ("state", limit.state),
            ]
            result.verdicts.append(
                ctx.verdict(
                    self.info,
                    recipient,
                    kind,
                    window,
                    why,
                    level=None if declared else "warning",
                    detail=detail,
                )
            )


def _names(party: str, finding: Finding, ctx: PolicyContext) -> bool:
    recipient = ctx.recipient(finding)
    return party in (recipient.key, recipient.sdk) or host_in(finding.host, [party])


def _busiest_window(findings: Sequence[Finding], per_s: float) -> list[Finding]:
    """The findings of the window of ``per_s`` seconds holding the most distinct messages."""
    by_message: dict[tuple[str, int, float], list[Finding]] = defaultdict(list)
    for f in findings:
        by_message[(f.flow, f.trans_depth, f.ts)].append(f)
    keys = sorted(by_message, key=lambda k: k[2])
    best = (0, 0)  # (start, end) indices into keys
    end = 0
    for start in range(len(keys)):
        end = max(end, start)
        while end < len(keys) and keys[end][2] - keys[start][2] < per_s:
            end += 1
        if end - start > best[1] - best[0]:
            best = (start, end)
    return [f for key in keys[best[0] : best[1]] for f in by_message[key]]


RULES: tuple[Rule, ...] = (
    ShareUndisclosed(),
    CollectUndisclosed(),
    BeforeConsent(),
    CleartextSensitive(),
    DeviceIdOutOfScope(),
    Frequency(),
    AfterWithdrawal(),
    SensitiveShared(),
)
RULE_INFO: dict[str, RuleInfo] = {rule.info.id: rule.info for rule in RULES}
