"""What every mutation answers: ``userErrors`` with codes from one ``ErrorCode`` enum, beside the
changed objects (Shopify ``userErrors``, Saleor ``errors`` with ``ProductErrorCode``).

A business failure the client can fix by changing its input (a bad amount, too little balance, a
paused market, an unfillable FOK order, an unknown object) is data: the payload with
``userErrors`` and null objects. What the input cannot fix (not signed in, an expired token,
forbidden, rate limited, unavailable) stays a top-level error.
"""

from __future__ import annotations

from enum import Enum

import strawberry

from predictql.errors import DomainError
from predictql.schema.scalars import Long
from predictql.services.ledger import Balances as BalancesRow


@strawberry.enum(description="Every code an expected failure carries, in userErrors and in top-level extensions.code.")
class ErrorCode(Enum):
    BAD_REQUEST = strawberry.enum_value("BAD_REQUEST", description="The request cannot be served as given.")
    INVALID_REQUEST = strawberry.enum_value("INVALID_REQUEST", description="A field is missing or malformed.")
    INVALID_BODY = strawberry.enum_value("INVALID_BODY", description="A field is missing or malformed.")
    MISSING_FIELDS = strawberry.enum_value("MISSING_FIELDS", description="A required field is missing.")
    INVALID_ID = strawberry.enum_value("INVALID_ID", description="Not an id, or an id of another kind.")
    INVALID_IDS = strawberry.enum_value("INVALID_IDS", description="A list of ids holds one that is not an id.")
    TOO_MANY_IDS = strawberry.enum_value("TOO_MANY_IDS", description="nodes(ids) was given no id or more than 100.")
    INVALID_INTERVAL = strawberry.enum_value("INVALID_INTERVAL", description="The candle interval is unknown.")
    INVALID_ORDER = strawberry.enum_value("INVALID_ORDER", description="The sort order is unknown.")
    INVALID_PAGINATION = strawberry.enum_value(
        "INVALID_PAGINATION", description="The page arguments do not go together or are out of bounds."
    )
    INVALID_PERIOD = strawberry.enum_value("INVALID_PERIOD", description="The period is unknown.")
    INVALID_RANGE = strawberry.enum_value("INVALID_RANGE", description="The time range is empty or reversed.")
    TOO_MANY_BUCKETS = strawberry.enum_value(
        "TOO_MANY_BUCKETS", description="The range holds more than 1000 candles of the interval."
    )
    INVALID_AMOUNT = strawberry.enum_value("INVALID_AMOUNT", description="The amount is not a positive whole number.")
    INVALID_PRICE = strawberry.enum_value("INVALID_PRICE", description="The price is outside 1..9999 basis points.")
    INVALID_SIDE = strawberry.enum_value("INVALID_SIDE", description="The side is not one of the allowed values.")
    INVALID_SCALE = strawberry.enum_value(
        "INVALID_SCALE", description="The chart scale is not one of the allowed values."
    )
    INVALID_PROBABILITIES = strawberry.enum_value(
        "INVALID_PROBABILITIES", description="Probabilities are not one per market, each in (0, 1)."
    )
    INVALID_LANGUAGE = strawberry.enum_value("INVALID_LANGUAGE", description="The language is not supported.")
    INVALID_THEME = strawberry.enum_value("INVALID_THEME", description="The theme is not supported.")
    INVALID_NICKNAME = strawberry.enum_value("INVALID_NICKNAME", description="The nickname breaks its rules.")
    NICKNAME_TAKEN = strawberry.enum_value("NICKNAME_TAKEN", description="Another user has this nickname.")
    EMAIL_EXISTS = strawberry.enum_value("EMAIL_EXISTS", description="An account with this email exists.")
    EMAIL_NOT_VERIFIED = strawberry.enum_value("EMAIL_NOT_VERIFIED", description="Verify the email before signing in.")
    INVALID_CREDENTIALS = strawberry.enum_value("INVALID_CREDENTIALS", description="Wrong email or password.")
    INVALID_CODE = strawberry.enum_value("INVALID_CODE", description="Wrong or expired verification code.")
    INVALID_TOKEN = strawberry.enum_value(
        "INVALID_TOKEN", description="A token that is not valid (forged, revoked, wrong type)."
    )
    TOKEN_EXPIRED = strawberry.enum_value(
        "TOKEN_EXPIRED", description="The token's time is over: refresh the access token (or sign in again)."
    )
    UNAUTHORIZED = strawberry.enum_value("UNAUTHORIZED", description="Not signed in (top-level error).")
    FORBIDDEN = strawberry.enum_value("FORBIDDEN", description="Signed in but not allowed (top-level error).")
    TOKEN_READ_ONLY = strawberry.enum_value(
        "TOKEN_READ_ONLY", description="A read-only API token cannot write (top-level error)."
    )
    RATE_LIMITED = strawberry.enum_value(
        "RATE_LIMITED", description="Too many requests; retry after extensions.retryAfter seconds (top-level error)."
    )
    SERVICE_UNAVAILABLE = strawberry.enum_value(
        "SERVICE_UNAVAILABLE", description="A dependency is out of reach; retry later (top-level error)."
    )
    OAUTH_FAILED = strawberry.enum_value("OAUTH_FAILED", description="The OAuth provider refused the sign-in.")
    NOT_FOUND = strawberry.enum_value("NOT_FOUND", description="No such object (or not the caller's).")
    USER_NOT_FOUND = strawberry.enum_value("USER_NOT_FOUND", description="No such user.")
    POOL_NOT_FOUND = strawberry.enum_value("POOL_NOT_FOUND", description="No such pool in this event.")
    MARKET_NOT_FOUND = strawberry.enum_value("MARKET_NOT_FOUND", description="No such market.")
    ORDER_NOT_FOUND = strawberry.enum_value("ORDER_NOT_FOUND", description="No such order of the caller's.")
    POSITION_NOT_FOUND = strawberry.enum_value("POSITION_NOT_FOUND", description="The caller holds nothing here.")
    CONFLICT = strawberry.enum_value("CONFLICT", description="The object's state does not allow this now.")
    MARKET_PAUSED = strawberry.enum_value("MARKET_PAUSED", description="The market is paused: no trading.")
    MARKET_RESOLVED = strawberry.enum_value("MARKET_RESOLVED", description="The market is resolved or closed.")
    ORDER_NOT_OPEN = strawberry.enum_value("ORDER_NOT_OPEN", description="The order is filled or cancelled already.")
    DUPLICATE_CLIENT_ORDER_ID = strawberry.enum_value(
        "DUPLICATE_CLIENT_ORDER_ID", description="clientOrderId is in use by an open order of the caller's."
    )
    FOK_NOT_FILLABLE = strawberry.enum_value(
        "FOK_NOT_FILLABLE", description="A fill-or-kill order could not fill whole; nothing was done."
    )
    POST_ONLY_WOULD_CROSS = strawberry.enum_value(
        "POST_ONLY_WOULD_CROSS", description="A post-only order would have matched; nothing was done."
    )
    NO_LIQUIDITY = strawberry.enum_value("NO_LIQUIDITY", description="Nothing could be sold into the book.")
    INSUFFICIENT_BALANCE = strawberry.enum_value(
        "INSUFFICIENT_BALANCE", description="Not enough balance (or units) for this."
    )
    UNPROCESSABLE = strawberry.enum_value(
        "UNPROCESSABLE", description="Well-formed but unusable (an idempotency key reused with other arguments)."
    )
    IDEMPOTENCY_KEY_IN_PROGRESS = strawberry.enum_value(
        "IDEMPOTENCY_KEY_IN_PROGRESS", description="The first request with this key is still running; retry."
    )
    PAYLOAD_TOO_LARGE = strawberry.enum_value("PAYLOAD_TOO_LARGE", description="The content is too large.")
    FILE_TOO_LARGE = strawberry.enum_value("FILE_TOO_LARGE", description="The file is larger than allowed.")
    INVALID_FILE_TYPE = strawberry.enum_value("INVALID_FILE_TYPE", description="Not an accepted image type.")
    MISSING_FILE = strawberry.enum_value("MISSING_FILE", description="No file was sent.")
    UNSUPPORTED_MEDIA_TYPE = strawberry.enum_value(
        "UNSUPPORTED_MEDIA_TYPE", description="The content type is not accepted."
    )
    INVALID_ORDER_STATUS = strawberry.enum_value(
        "INVALID_ORDER_STATUS", description="The card order's status does not allow this (any more)."
    )
    ACTIVE_DEPOSIT_ORDER_EXISTS = strawberry.enum_value(
        "ACTIVE_DEPOSIT_ORDER_EXISTS", description="An open deposit order exists: finish or cancel it first."
    )
    AMOUNT_TOO_LOW = strawberry.enum_value("AMOUNT_TOO_LOW", description="The amount is below the allowed minimum.")
    AMOUNT_TOO_HIGH = strawberry.enum_value("AMOUNT_TOO_HIGH", description="The amount is above the allowed maximum.")
    INVALID_CARD_NUMBER = strawberry.enum_value(
        "INVALID_CARD_NUMBER", description="Not a valid bank card number (13-19 digits, Luhn)."
    )
    INVALID_MESSAGE = strawberry.enum_value("INVALID_MESSAGE", description="The message is empty or too long.")
    MIN_DEPOSIT_REQUIRED = strawberry.enum_value(
        "MIN_DEPOSIT_REQUIRED", description="Money out needs 1000 RUB deposited in total first."
    )
    WAGERING_REQUIREMENT_NOT_MET = strawberry.enum_value(
        "WAGERING_REQUIREMENT_NOT_MET",
        description='Money out needs more trading first (README "Money in and out": the wagering rules).',
    )
    WITHDRAWAL_LIMIT_EXCEEDED = strawberry.enum_value(
        "WITHDRAWAL_LIMIT_EXCEEDED", description="Over the money-out limit per 24 hours."
    )
    UNSUPPORTED_TOKEN = strawberry.enum_value("UNSUPPORTED_TOKEN", description="The network does not send this token.")
    UNSUPPORTED_NETWORK = strawberry.enum_value(
        "UNSUPPORTED_NETWORK", description="Withdrawals are not sent on this network."
    )
    INVALID_ADDRESS = strawberry.enum_value(
        "INVALID_ADDRESS", description="Not a valid address on the network (format or checksum)."
    )
    PENDING_WITHDRAWAL_EXISTS = strawberry.enum_value(
        "PENDING_WITHDRAWAL_EXISTS", description="A withdrawal is pending already: cancel it or wait."
    )
    WITHDRAWAL_NOT_PENDING = strawberry.enum_value(
        "WITHDRAWAL_NOT_PENDING", description="The withdrawal is sent, cancelled or rejected already."
    )
    WITHDRAWAL_NOT_FOUND = strawberry.enum_value(
        "WITHDRAWAL_NOT_FOUND", description="No such withdrawal (or not the caller's), or none pending."
    )
    INVALID_TX_HASH = strawberry.enum_value(
        "INVALID_TX_HASH", description="The on-chain transaction id is missing or malformed."
    )
    EDIT_WINDOW_CLOSED = strawberry.enum_value(
        "EDIT_WINDOW_CLOSED", description="The comment is older than the edit window; it can only be deleted."
    )
    ALERT_LIMIT_REACHED = strawberry.enum_value(
        "ALERT_LIMIT_REACHED", description="The caller has as many active price alerts as allowed; delete one first."
    )
    DUPLICATE_AD_TYPE = strawberry.enum_value(
        "DUPLICATE_AD_TYPE", description="The caller has an active P2P ad of this type already."
    )
    HAS_OPEN_ORDERS = strawberry.enum_value(
        "HAS_OPEN_ORDERS", description="The P2P ad has open orders: it cannot be deleted now."
    )
    AD_NOT_ACTIVE = strawberry.enum_value(
        "AD_NOT_ACTIVE", description="The P2P ad is paused or hidden: it takes no order."
    )
    OWN_AD = strawberry.enum_value("OWN_AD", description="A P2P ad cannot be taken by its owner.")
    AMOUNT_EXCEEDS_AVAILABLE = strawberry.enum_value(
        "AMOUNT_EXCEEDS_AVAILABLE", description="The amount is more than the P2P ad has left."
    )
    AMOUNT_TOO_SMALL = strawberry.enum_value(
        "AMOUNT_TOO_SMALL", description="The amount is zero, negative or worth no fiat kopeck."
    )
    INVALID_PAYMENT_METHOD = strawberry.enum_value(
        "INVALID_PAYMENT_METHOD", description="The P2P ad does not take this payment method."
    )
    SELLER_INSUFFICIENT_BALANCE = strawberry.enum_value(
        "SELLER_INSUFFICIENT_BALANCE", description="The seller's balance does not cover the P2P order."
    )
    INVALID_RATING = strawberry.enum_value("INVALID_RATING", description="A rating is a whole number from 1 to 5.")
    ORDER_NOT_COMPLETED = strawberry.enum_value(
        "ORDER_NOT_COMPLETED", description="Only a completed P2P order can be rated."
    )
    ALREADY_RATED = strawberry.enum_value("ALREADY_RATED", description="The caller rated this P2P order already.")


def error_code(error: DomainError) -> ErrorCode:
    """The enum value of an error's code: REST spells some codes in lower case, GraphQL never does.

    A code missing from the enum would be a bug (a test scans every raised code); it falls back to
    BAD_REQUEST rather than failing the response.
    """
    code = error.graphql_code.upper()
    return ErrorCode.__members__.get(code, ErrorCode.BAD_REQUEST)


@strawberry.type(description="An expected business failure of a mutation; nothing of the mutation was written.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. ["input", "amount"]; null when no one field is.'
    )
    message: str = strawberry.field(description="What went wrong, in English, for people.")
    code: ErrorCode = strawberry.field(description="What went wrong, for programs.")

    @classmethod
    def from_error(cls, error: DomainError, field: str | None) -> UserError:
        return cls(field=["input", field] if field else None, message=error.message, code=error_code(error))


@strawberry.interface(description="What every mutation returns: its changed objects and its userErrors.")
class MutationPayload:
    user_errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Expected failures; empty on success. When not empty, the other fields are null.",
    )


@strawberry.type(description="The caller's money after a mutation, kopecks.")
class Balances:
    cash: Long = strawberry.field(description="Cash balance.")
    bonus: Long = strawberry.field(description="Bonus balance.")
    frozen: Long = strawberry.field(description="Reserved by open order-book buys; not part of total.")
    total: Long = strawberry.field(description="Cash plus bonus, kopecks.")
    p2p_frozen: Long = strawberry.field(
        description="Held in escrow by open P2P orders the caller sells in; not part of total.", default=Long(0)
    )
    payout_frozen: Long = strawberry.field(
        description="Held for the caller's pending card withdraws and crypto withdrawals (debited from cash, "
        "not yet sent or returned); not part of total.",
        default=Long(0),
    )

    @classmethod
    def from_row(cls, row: BalancesRow) -> Balances:
        return cls(
            cash=Long(row.cash),
            bonus=Long(row.bonus),
            frozen=Long(row.frozen),
            total=Long(row.total),
            p2p_frozen=Long(row.p2p_frozen),
            payout_frozen=Long(row.payout_frozen),
        )
