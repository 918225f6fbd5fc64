"""How intake handles each command on the platform's runtime: load what the decision needs (the
youth's case, the indexes, the vault), decide with the pure functions of `decisions.py`, record.

The runtime (`kit.runtime`) does the rest: parsing against the contract, the sender's checks, one
transaction per batch with the receipts, idempotence, re-deciding after a concurrent write.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from events import intake as ev
from events.envelope import CloudEvent
from events.receipts import Reason
from kit.runtime import Accepted, Rejected, Sender, Work
from services.intake.aggregates import (CaseReference, EngagementHistory, PersonKey, YouthCase, case_reference_id,
                                        person_key_id)
from services.intake.decisions import (Context, decide, decide_merge, decide_outreach_contact, decide_register_youth,
                                       unknown_youth as youth_not_found)
from services.intake.identity import IdentityVault
from services.intake.policy import Policy
from shared.pseudonyms import engagement_id


@dataclass
class Intake:
    """What handling a command needs besides the unit of work: the policy and the vault."""

    policy: Policy
    vault: IdentityVault

    def context(self, sender: Sender, now: datetime) -> Context:
        return Context(agency=sender.agency, role=sender.role, now=now, policy=self.policy, actor=sender.actor)

    def prefetch(self, work: Work, envelope: CloudEvent, command: Any) -> list[uuid.UUID]:
        """What the batch's commands will look up (index entries, engagements), asked about once;
        a sealed identity is opened here, once, and kept for the handling (`opened`)."""
        agency, ids = envelope.kitagency, []
        if isinstance(command, ev.RegisterYouth):
            ids.append(case_reference_id(agency, command.partner_case_ref))
        handle = getattr(command, "handle", None) or getattr(command, "engagement_handle", None)
        if isinstance(handle, str):
            ids.append(engagement_id(self.vault.pseudonym_key, agency, handle))
            if isinstance(command, ev.RecordOutreachContact):
                self._needs_key(work, str(ids[-1]))
        if isinstance(command, ev.AddCaseNote):  # encrypted with the youth's key
            self._needs_key(work, command.youth_id)
        sealed = getattr(command, "sealed_identity", None)
        if sealed is not None:
            checked = self.vault.open(sealed, self.policy.agency(agency), "data.sealed_identity")
            work.notes[("opened", id(command))] = checked
            if not isinstance(checked, list) and checked.pseudonym:
                ids.append(person_key_id(checked.pseudonym))
            if isinstance(command, ev.RegisterYouth):  # the id it gets if it is new, chosen now for its key
                work.notes[("new_id", id(command))] = new_id = str(uuid.uuid4())
                self._needs_key(work, new_id)
            else:
                self._needs_key(work, command.youth_id)
        return ids

    @staticmethod
    def _needs_key(work: Work, owner: str) -> None:
        work.notes.setdefault("key_owners", []).append(owner)

    def keys(self, work: Work) -> dict[str, bytes | None]:
        """The vault keys the batch's commands encrypt with, fetched or created in one statement."""
        if "keys" not in work.notes:
            work.notes["keys"] = self.vault.keys.ensure_many(work.notes.get("key_owners", []))
        return work.notes["keys"]
    def opened(self, work: Work, command: Any, ctx: Context):
        """The command's sealed identity, opened and checked (by `prefetch`, or now)."""
        found = work.notes.get(("opened", id(command)))
        return found if found is not None else self.vault.open(command.sealed_identity, ctx.policy.agency(ctx.agency),
                                                                 "data.sealed_identity")

    def handle(self, work: Work, envelope: CloudEvent, command: Any, sender: Sender, now: datetime) -> Accepted | Rejected:
        ctx = self.context(sender, now)
        if isinstance(command, ev.RegisterYouth):
            return self._register(work, ctx, sender, command)
        if isinstance(command, ev.RecordOutreachContact):
            return self._outreach(work, ctx, sender, command)
        if isinstance(command, ev.MergeYouths):
            return self._merge(work, ctx, sender, command)
        return self._youth_command(work, ctx, sender, command)

    # ---------------------------------------------------------------- lookups

    @staticmethod
    def case_ref_owner(work: Work, agency: str, case_ref: str) -> str | None:
        ref = work.get(case_reference_id(agency, case_ref))
        return ref.youth_id if ref is not None else None

    @staticmethod
    def person_owner(work: Work, pseudonym: str) -> str | None:
        key = work.get(person_key_id(pseudonym))
        return key.youth_id if key is not None else None

    @staticmethod
    def youth(work: Work, youth_id: str) -> YouthCase | None:
        history = work.get(uuid.UUID(youth_id))
        return history if isinstance(history, YouthCase) else None

    # ---------------------------------------------------------------- commands

    def _register(self, work: Work, ctx: Context, sender: Sender, c: ev.RegisterYouth) -> Accepted | Rejected:
        vault = self.vault
        existing = self.case_ref_owner(work, ctx.agency, c.partner_case_ref)
        checked = None
        if c.sealed_identity is not None:
            checked = self.opened(work, c, ctx)
            if isinstance(checked, list):
                return Rejected(checked, subject=existing)
        owner = self.person_owner(work, checked.pseudonym) if checked and checked.pseudonym else None
        matched = self.youth(work, owner) if owner else None
        while matched is not None and matched.state.merged_into:  # the person lives on in the survivor
            matched = self.youth(work, matched.state.merged_into)
        engagement = (work.get(engagement_id(vault.pseudonym_key, ctx.agency, c.engagement_handle))
                      if c.engagement_handle else None)
        new_id = work.notes.get(("new_id", id(c))) or str(uuid.uuid4())
        if checked is not None and matched is None:
            ciphertext = vault.encrypt(new_id, checked.identity, self.keys(work))
            if isinstance(ciphertext, list):
                return Rejected(ciphertext)
            ctx = replace(ctx, identity_ciphertext=ciphertext)
        decided = decide_register_youth(c, ctx, new_youth_id=new_id, existing_youth_for_case_ref=existing,
                                        matched=matched.state if matched else None,
                                        engagement=engagement.state if engagement else None)
        if isinstance(decided, list):
            return Rejected(decided, subject=existing)
        if matched is not None:
            event_ids = work.record(matched, decided.youth_events, sender)
        else:
            event_ids = work.start(YouthCase, uuid.UUID(new_id), decided.youth_events, sender)
            if checked is not None and checked.pseudonym:
                work.add(PersonKey(pseudonym=checked.pseudonym, youth_id=new_id))
        if engagement is not None:
            event_ids += work.record(engagement, decided.engagement_events, sender)
        work.add(CaseReference(agency=ctx.agency, case_ref=c.partner_case_ref, youth_id=decided.youth_id))
        return Accepted(event_ids, decided.youth_id, decided.notices)

    def _outreach(self, work: Work, ctx: Context, sender: Sender, c: ev.RecordOutreachContact) -> Accepted | Rejected:
        eid = engagement_id(self.vault.pseudonym_key, ctx.agency, c.handle)
        ciphertext = self.vault.encrypt_text(str(eid), c.handle, self.keys(work))
        if isinstance(ciphertext, list):
            return Rejected(ciphertext)
        ctx = replace(ctx, identity_ciphertext=ciphertext)
        history = work.get(eid)
        decided = decide_outreach_contact(c, ctx, engagement_id=str(eid), engagement=history.state if history else None)
        if decided and isinstance(decided[0], Reason):
            return Rejected(decided, subject=str(eid))  # type: ignore[arg-type]
        ids = (work.record(history, decided, sender) if history  # type: ignore[arg-type]
               else work.start(EngagementHistory, eid, decided, sender))  # type: ignore[arg-type]
        return Accepted(ids, str(eid))

    def _merge(self, work: Work, ctx: Context, sender: Sender, c: ev.MergeYouths) -> Accepted | Rejected:
        survivor, duplicate = self.youth(work, c.youth_id), self.youth(work, c.duplicate_youth_id)
        if survivor is None:
            return unknown_youth()
        if duplicate is None:
            return unknown_youth("data.duplicate_youth_id")
        decided = decide_merge(survivor.state, duplicate.state, c, ctx)
        if isinstance(decided, list):
            return Rejected(decided, subject=c.youth_id)
        return Accepted([*work.record(survivor, decided[0], sender), *work.record(duplicate, decided[1], sender)],
                        c.youth_id)

    def _youth_command(self, work: Work, ctx: Context, sender: Sender, command: Any) -> Accepted | Rejected:
        history = self.youth(work, command.youth_id)
        if history is None:
            return unknown_youth()
        sealed = getattr(command, "sealed_identity", None)
        pseudonym = None
        if sealed is not None:
            checked = self.opened(work, command, ctx)
            if isinstance(checked, list):
                return Rejected(checked, subject=command.youth_id)
            if isinstance(command, ev.RecordIdentity) and checked.pseudonym:
                owner = self.person_owner(work, checked.pseudonym)
                if owner not in (None, command.youth_id):
                    return Rejected([Reason(field="data.sealed_identity", code="national_id_of_another_youth",
                                            message=f"this national id belongs to youth {owner}: ask an authorised "
                                                    "operator to merge the two records")], subject=command.youth_id)
                pseudonym = checked.pseudonym if owner is None else None
            ciphertext = self.vault.encrypt(command.youth_id, checked.identity, self.keys(work))
            if isinstance(ciphertext, list):
                return Rejected(ciphertext, subject=command.youth_id)
            ctx = replace(ctx, identity_ciphertext=ciphertext)
        if isinstance(command, ev.AddCaseNote):
            # Encrypted before the decision, which says why it is refused (a destroyed key leaves
            # no ciphertext: the decision answers `erased`, after the access checks).
            ciphertext = self.vault.encrypt_text(command.youth_id, command.text, self.keys(work))
            ctx = replace(ctx, identity_ciphertext=None if isinstance(ciphertext, list) else ciphertext)
        decided = decide(history.state, command, ctx)
        if decided and isinstance(decided[0], Reason):
            return Rejected(decided, subject=command.youth_id)  # type: ignore[arg-type]
        self.destroy_erased_keys(decided)
        if pseudonym:
            work.add(PersonKey(pseudonym=pseudonym, youth_id=command.youth_id))
        return Accepted(work.record(history, decided, sender), command.youth_id)  # type: ignore[arg-type]

    def destroy_erased_keys(self, events: list[Any]) -> None:
        """Destroy first: if the save then fails, the redelivery records the erasure."""
        for event in events:
            if isinstance(event, ev.YouthErased):
                for owner in event.keys_destroyed:
                    self.vault.keys.destroy(owner)


def unknown_youth(field: str = "data.youth_id") -> Rejected:
    return Rejected([youth_not_found(field)])
