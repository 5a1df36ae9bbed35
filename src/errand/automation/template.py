"""What a schedule or hook starts: the task's folders, domains and model, stored as JSON.

The template is re-submitted through intake at every run, so the folders it names are
checked against the allowed folders each time, never trusted from when it was saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from errand.intake import FolderChoice, TaskRequest
from errand.sandbox import FolderMode
from errand.store import JsonObject, JsonValue
from errand.tasks import Attachment, TaskSource

MAX_FOLDERS = 20
MAX_DOMAINS = 100


class TemplateError(ValueError):
    """A folder or domain option cannot be used; the message says how to write it."""


@dataclass(frozen=True, slots=True)
class TaskTemplate:
    """Folders by allowed-folder name and mode, extra domains, and the model (or default)."""

    folders: tuple[FolderChoice, ...] = ()
    allow_domains: tuple[str, ...] = ()
    model: str | None = None

    @classmethod
    def from_options(
        cls, folders: Sequence[str], allow_domains: Sequence[str], model: str | None
    ) -> TaskTemplate:
        """From ``NAME[:ro|:rw]`` folder options (read-only by default).

        Raises:
            TemplateError: a malformed folder option, or too many folders or domains.
        """
        choices: list[FolderChoice] = []
        for option in folders:
            name, _, mode = option.rpartition(":") if ":" in option else (option, "", "ro")
            if mode not in ("ro", "rw") or not name:
                raise TemplateError(f"{option!r}: name a folder as NAME, NAME:ro or NAME:rw")
            choices.append(FolderChoice(name=name, mode=FolderMode(mode)))
        if len(choices) > MAX_FOLDERS or len(allow_domains) > MAX_DOMAINS:
            raise TemplateError(f"at most {MAX_FOLDERS} folders and {MAX_DOMAINS} domains")
        return cls(tuple(choices), tuple(d.strip() for d in allow_domains if d.strip()), model)

    def to_json(self) -> JsonObject:
        return {
            "folders": [{"name": f.name, "mode": f.mode.value} for f in self.folders],
            "allow_domains": list(self.allow_domains),
            "model": self.model,
        }

    @classmethod
    def from_json(cls, value: JsonObject) -> TaskTemplate:
        folders: list[FolderChoice] = []
        raw_folders = value.get("folders")
        for item in raw_folders if isinstance(raw_folders, list) else []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                rw = item.get("mode") == "rw"
                mode = FolderMode.READ_WRITE if rw else FolderMode.READ_ONLY
                folders.append(FolderChoice(name=str(item["name"]), mode=mode))
        raw_domains = value.get("allow_domains")
        domains = (
            [d for d in raw_domains if isinstance(d, str)] if isinstance(raw_domains, list) else []
        )
        model = value.get("model")
        return cls(tuple(folders), tuple(domains), model if isinstance(model, str) else None)

    def folder_names(self) -> list[JsonValue]:
        return [f"{f.name}:{f.mode}" for f in self.folders]

    def request(
        self,
        prompt: str,
        *,
        source: TaskSource,
        title: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> TaskRequest:
        """The request to submit through intake."""
        return TaskRequest(
            prompt=prompt,
            folders=self.folders,
            allow_domains=self.allow_domains,
            model=self.model,
            source=source,
            attachments=tuple(attachments),
            title=title,
        )
