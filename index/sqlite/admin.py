"""The SQLite store's admin part: visibility of writes, the summary, closing."""

from __future__ import annotations

import json
from typing import Any

from index.sqlite.base import SqliteBase


class SqliteAdmin(SqliteBase):
    def refresh(self) -> None:
        """Committed writes are visible at once."""

    def close(self) -> None:
        self.db.close()

    def summary(self, top: int = 10) -> dict[str, Any]:
        one = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "ads": one("SELECT count(*) FROM ads"),
            "phones": one("SELECT count(*) FROM phones"),
            "towns": one("SELECT count(DISTINCT town) FROM ad_towns"),
            "sources": self._facet("SELECT source, count(*) FROM ads GROUP BY source ORDER BY 2 DESC", []),
            "top_towns": self._facet(
                f"SELECT town, count(*) FROM ad_towns GROUP BY town ORDER BY 2 DESC, 1 LIMIT {int(top)}", []
            ),
            "multi_town_phones": one("SELECT count(*) FROM phones WHERE json_array_length(towns) > 1"),
            "top_phones": [
                {"e164": r["e164"], "ads": r["ads_count"], "towns": json.loads(r["towns"])}
                for r in self.db.execute(
                    "SELECT e164, ads_count, towns FROM phones "
                    f"ORDER BY json_array_length(towns) DESC, ads_count DESC, e164 LIMIT {int(top)}"
                )
            ],
        }
