"""Form submissions, worked out before the model's action so that approval can show them.

After each browser action the toolset reads, for every element of the snapshot that could
submit a form (a submit button, or a field where Enter submits), where the form would go and
what it would send. Describing a later call (which must not touch the browser) then looks
the element up here: a submission to a domain outside the task's allowed list is described
as such, with the fields and values, so the approval shows what would be sent.

This is a description for the user, read from an untrusted page; the boundary stays the egress
proxy, which decides every connection whatever the page does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from errand.sandbox import HostnameError, NetworkPolicy, normalize_host, parse_domain_pattern

SUBMITTING_ROLES = frozenset({"button", "textbox", "searchbox", "combobox", "spinbutton"})
"""Roles whose elements may submit their form: buttons on a click, fields on Enter."""
_SUMMARY_CHARS = 600

# Run in the page by Errand (never text from the model): the submission the element would
# make, or null. ``enter`` is whether pressing Enter in it submits the form.
FORM_OF_ELEMENT = """(el) => {
  const form = el.form || (el.closest ? el.closest('form') : null);
  if (!form) return null;
  const tag = el.tagName.toLowerCase();
  const type = (el.getAttribute('type') || '').toLowerCase();
  const click = (tag === 'button' && (type === '' || type === 'submit')) ||
    (tag === 'input' && (type === 'submit' || type === 'image'));
  const enter = tag === 'input' && !['checkbox', 'radio', 'submit', 'button', 'image', 'reset',
    'file', 'range', 'color'].includes(type);
  if (!click && !enter) return null;
  const action = click && el.hasAttribute('formaction') ? el.formAction : form.action;
  const method = ((click && el.getAttribute('formmethod')) || form.method || 'get');
  const fields = [];
  for (const c of form.elements) {
    if (!c.name || c.disabled) continue;
    const t = (c.type || '').toLowerCase();
    if (['submit', 'button', 'image', 'reset'].includes(t)) continue;
    if ((t === 'checkbox' || t === 'radio') && !c.checked) continue;
    if (t === 'file') {
      fields.push([c.name, 'file', Array.from(c.files || []).map((f) => f.name).join(', ')]);
    } else if (c.tagName === 'SELECT') {
      for (const o of c.selectedOptions) fields.push([c.name, 'text', o.value]);
    } else {
      fields.push([c.name, t === 'password' ? 'password' : 'text', String(c.value)]);
    }
  }
  return {action: String(action), method: String(method).toLowerCase(), click, enter, fields};
}"""


@dataclass(frozen=True, slots=True)
class Submission:
    """Where a form would go and what it would send."""

    url: str
    method: str
    on_click: bool
    on_enter: bool
    fields: tuple[tuple[str, str, str], ...]
    """``(name, kind, value)``; kind is ``text``, ``password`` or ``file``."""

    @classmethod
    def from_page(cls, raw: object) -> Submission | None:
        """Read what :data:`FORM_OF_ELEMENT` returned (anything else: None)."""
        if not isinstance(raw, Mapping):
            return None
        fields: list[tuple[str, str, str]] = []
        raw_fields = raw.get("fields")
        for item in raw_fields if isinstance(raw_fields, Sequence) else ():
            if isinstance(item, Sequence) and len(item) == 3:
                fields.append((str(item[0]), str(item[1]), str(item[2])))
        return cls(
            url=str(raw.get("action", "")),
            method=str(raw.get("method", "get")),
            on_click=raw.get("click") is True,
            on_enter=raw.get("enter") is True,
            fields=tuple(fields),
        )

    @property
    def host(self) -> str | None:
        """The normalised host the form goes to, or None when it is not http(s)."""
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        try:
            return normalize_host(parts.hostname)
        except HostnameError:
            return None

    def summary(self) -> str:
        """One line for the approval: where, how, and each field with its value (passwords
        and files only by size and name)."""
        shown = []
        for name, kind, value in self.fields:
            if kind == "password":
                shown.append(f"{name}=(password, {len(value)} characters)")
            elif kind == "file":
                shown.append(f"{name}=(file: {value or 'none'})")
            else:
                shown.append(f"{name}={value!r}")
        fields = ", ".join(shown) if shown else "no fields"
        line = f"submit a form to {self.url} ({self.method.upper()}) with {fields}"
        return line if len(line) <= _SUMMARY_CHARS else line[: _SUMMARY_CHARS - 1] + "…"


def is_listed(host: str, network: NetworkPolicy) -> bool:
    """Whether the task's policy allows ``host`` outright (denied domains win; addresses count
    when an allowed range holds them)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return any(address.version == net.version and address in net for net in network.allow_cidrs)
    if any(parse_domain_pattern(p).matches(host) for p in network.deny_domains):
        return False
    return any(parse_domain_pattern(p).matches(host) for p in network.allow_domains)
