"""Request and response schemas: the same pydantic models validate bodies and build /openapi.json.

Request models are strict (no type coercion: ``"3"`` is not an int) and forbid unknown
fields, so a client's typo is a 422 naming the field rather than a silently ignored value.
Query models are lax on purpose: query strings are text, so ``?limit=10`` must parse.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from processing_unit.text_rules import clean_text, normalize_email

ID_PATTERN = r"^[0-9]{1,20}$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
#: NFKC + case-folded, invisible and control characters refused (processing_unit.text_rules)
Email = Annotated[
    str,
    StringConstraints(max_length=1024),
    AfterValidator(normalize_email),
    WithJsonSchema({"type": "string", "format": "email", "minLength": 3, "maxLength": 254}),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
Text = Annotated[
    str,
    StringConstraints(max_length=1024),
    AfterValidator(clean_text(1, 200)),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200}),
]
Category = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
PriceCents = Annotated[int, Field(ge=0, le=100_000_000)]
StockUnits = Annotated[int, Field(ge=0, le=1_000_000)]
Quantity = Annotated[int, Field(ge=1, le=1000)]
Limit = Annotated[int, Field(ge=1, le=200)]

MAX_ORDER_LINES = 50


def example(**fields: object) -> ConfigDict:
    """A request model's example, shown (and pre-filled for "Try it out") by /docs."""
    return ConfigDict(json_schema_extra={"examples": [fields]})


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class QueryModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- identity ------------------------------------------------------------------------
class NewUser(RequestModel):
    model_config = example(email="shopper@example.com", name="Ada Shopper", password="correct-horse-1")

    email: Email
    name: Text
    password: Password


class Credentials(RequestModel):
    model_config = example(email="shopper@example.com", password="correct-horse-1")

    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class User(BaseModel):
    id: Id
    email: str
    name: str
    is_admin: bool


class Session(BaseModel):
    token: str
    expires_at: str = Field(description="ISO-8601 UTC")


# ---- catalog ------------------------------------------------------------------------
class NewProduct(RequestModel):
    model_config = example(sku="KIT-KETTLE", name="Stainless kettle 1.7 l", category="kitchen", price_cents=3499, stock=40)

    sku: Sku
    name: Text
    category: Category
    price_cents: PriceCents
    stock: StockUnits = 0


class ProductPatch(RequestModel):
    """Every field optional, at least one present; the sku is immutable."""

    name: Text | None = None
    category: Category | None = None
    price_cents: PriceCents | None = None
    stock: StockUnits | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> "ProductPatch":
        if not self.model_fields_set:
            raise ValueError("give at least one of name, category, price_cents, stock")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class Product(BaseModel):
    id: Id
    sku: str
    name: str
    category: str
    price_cents: int
    stock: int
    version: int


class ProductQuery(QueryModel):
    category: Category | None = None
    limit: Limit = 50
    cursor: Id | None = None


class ProductList(BaseModel):
    items: list[Product]
    next_cursor: str | None


# ---- orders -------------------------------------------------------------------------
class NewOrderLine(RequestModel):
    product_id: Id
    quantity: Quantity


class NewOrder(RequestModel):
    """Lines name distinct products; a repeated product id is rejected (422), not merged."""

    model_config = example(lines=[{"product_id": "1", "quantity": 2}])

    lines: Annotated[list[NewOrderLine], Field(min_length=1, max_length=MAX_ORDER_LINES)]

    @field_validator("lines")
    @classmethod
    def _distinct(cls, lines: list[NewOrderLine]) -> list[NewOrderLine]:
        seen: set[str] = set()
        for line in lines:
            if line.product_id in seen:
                raise ValueError(f"product {line.product_id} appears twice: put it on one line")
            seen.add(line.product_id)
        return lines


class Payment(RequestModel):
    model_config = example(amount_cents=6998)

    amount_cents: Annotated[int, Field(ge=0, le=10**15)]


class OrderLine(BaseModel):
    product_id: Id
    quantity: int
    price_cents: int


OrderStatus = Literal["placed", "paid", "shipped", "cancelled"]


class Order(BaseModel):
    id: Id
    user_id: Id
    status: OrderStatus
    lines: list[OrderLine]
    total_cents: int
    version: int


class OrderQuery(QueryModel):
    user_id: Id | None = None
    limit: Limit = 50
    cursor: Id | None = None


class OrderList(BaseModel):
    items: list[Order]
    next_cursor: str | None


# ---- problems and health ------------------------------------------------------------
class ProblemField(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemField] = []


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}
