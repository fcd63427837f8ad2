"""The base of every public model: what the API shows of a resource.

Python names in the code, camelCase on the wire (an alias generator, not a
``noqa`` per field); the same class gives the response body and its schema in
the OpenAPI document, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class PublicModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True, frozen=True
    )

    def dump(self, **kwargs: Any) -> dict[str, Any]:
        """The JSON body (camelCase)."""
        return self.model_dump(mode="json", by_alias=True, **kwargs)
