"""How a mart store puts the warehouse back in line with LATEST after an interrupted writer (the rules are
in ci_pipeline.marts): a mixin of MartStore, run before every publish, prune and catalogue refresh."""

from __future__ import annotations

import logging

from ci_pipeline.catalog import CATALOG_FILE
from ci_pipeline.marts.layout import (
    CATALOG_TEMP_PREFIX,
    JOURNAL_DIR,
    KEPT_LEGACY_JOURNAL_FILE,
    LATEST_FILE,
    LEGACY_JOURNAL_FILE,
    LEGACY_LATEST_FILE,
    PRUNED,
    PUBLISHED,
    STAGING_DIR,
)

log = logging.getLogger("ci_pipeline.marts")


class StoreRepair:
    """MartStore's repair (it reads and journals through MartStore's own methods)."""

    def repair(self) -> list[str]:
        """Put the warehouse back in line with LATEST (see the module docstring); what was done, one line
        each (empty when nothing was needed). Every publish, prune and catalogue refresh does this first."""
        with self.backend.exclusive():
            return self._repair()

    def _repair(self) -> list[str]:
        done = []
        for mart in self._mart_folders():
            done += self._repair_mart(mart)
        for name in self.local.list(""):
            if name.startswith(CATALOG_TEMP_PREFIX):
                self.local.delete(name)
                done.append(f"removed {name}, left by an interrupted catalogue refresh")
        stale = self._catalog_disagreement()
        if stale:
            self._build_catalog()
            done.append(f"rebuilt {CATALOG_FILE}: {stale}")
        for line in done:
            log.warning("mart store repair: %s", line)
        return done

    def _repair_mart(self, mart: str) -> list[str]:
        done = []
        key = self._key(mart)
        leftovers = [name for name in self.backend.list(key) if name.startswith(".")]
        leftovers += [f"{JOURNAL_DIR}/{name}" for name in self.backend.list(f"{key}/{JOURNAL_DIR}")
                      if name.startswith(".")]
        leftovers += [f"{STAGING_DIR}/{name}" for name in self.backend.list(f"{key}/{STAGING_DIR}")]
        for name in leftovers:
            self.backend.delete(f"{key}/{name}")
            done.append(f"{mart}: removed {name}, left by an interrupted write")
        if self.backend.make_readable(self._key(mart, LATEST_FILE)):
            done.append(f"{mart}: made {LATEST_FILE} readable by the warehouse's group")

        pointers = self._pointers(mart)
        latest = self.latest_version(mart)
        events = self._journal(mart)
        entries = self.backend.list(self._key(mart, JOURNAL_DIR))
        carried = [v for v in self._legacy_journal(mart) if f"{v}.{PUBLISHED}.json" not in entries]
        for version in carried:
            self._record(mart, version, PUBLISHED, f"carried over from {LEGACY_JOURNAL_FILE}")
        if carried:
            done.append(f"{mart}: carried {len(carried)} version(s) over from {LEGACY_JOURNAL_FILE} into {JOURNAL_DIR}/")
        folders = set(self._version_folders(mart))
        manifests = {version: self._manifest_or_none(mart, version) for version in folders}

        # Reconcile the journal from the commit point: _LATEST (and LATEST, the earlier name), and every
        # version a published one was built on.
        todo = [(version, f"{name} names it") for name, version in pointers.items()]
        todo += [(v, "") for v, e in events.items() if e == PUBLISHED]
        published = set()
        while todo:
            version, why = todo.pop()
            if version is None or version in published or events.get(version) == PRUNED:
                continue
            published.add(version)
            if version not in folders and version != latest:
                why = "its folder is gone: it was removed outside MartStore.prune"
                self._record(mart, version, PRUNED, why)
                events[version] = PRUNED
                done.append(f"{mart}: journaled {version} as pruned ({why})")
                continue
            if version not in events:
                self._record(mart, version, PUBLISHED, f"repair: {why}")
                events[version] = PUBLISHED
                done.append(f"{mart}: journaled {version} ({why}, the journal did not)")
            previous = (manifests.get(version) or {}).get("previous_version")
            todo.append((previous, f"{version} names it as previous_version"))

        named = {m.get("previous_version") for m in manifests.values() if m}
        for version in sorted(folders):
            if version in pointers.values():
                continue
            if events.get(version) == PRUNED:
                self.backend.delete(self._version_key(mart, version))
                done.append(f"{mart}: removed version={version}, journaled as pruned (an interrupted prune)")
            elif version not in events and version not in named:
                self.backend.delete(self._version_key(mart, version))
                done.append(f"{mart}: removed version={version}, never named by {LATEST_FILE} "
                            "(its publish was interrupted before the commit)")
        return done + self._rename_legacy_files(mart, pointers, latest)

    def _rename_legacy_files(self, mart: str, pointers: dict[str, str | None], latest: str | None) -> list[str]:
        """Move an earlier release's LATEST and PUBLISHED aside (their versions are journaled by now), so
        that every name in the mart's folder but the versions begins with '_'."""
        done = []
        if pointers[LEGACY_LATEST_FILE] is not None:
            if pointers[LATEST_FILE] != latest:
                self.backend.put(self._key(mart, LATEST_FILE), f"{latest}\n".encode())
            self.backend.delete(self._key(mart, LEGACY_LATEST_FILE))
            done.append(f"{mart}: renamed {LEGACY_LATEST_FILE} to {LATEST_FILE}, naming {latest}")
        if LEGACY_JOURNAL_FILE in self.backend.list(self._key(mart)):
            legacy = self.backend.get(self._key(mart, LEGACY_JOURNAL_FILE))
            self.backend.put(self._key(mart, KEPT_LEGACY_JOURNAL_FILE), legacy)
            self.backend.delete(self._key(mart, LEGACY_JOURNAL_FILE))
            done.append(f"{mart}: kept {LEGACY_JOURNAL_FILE} as {KEPT_LEGACY_JOURNAL_FILE} (its versions are in {JOURNAL_DIR}/)")
        return done
