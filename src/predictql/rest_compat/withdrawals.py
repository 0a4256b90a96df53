"""REST group ``withdrawals``: crypto money-out (USDT/USDC on chain, approved by an operator).

``/withdrawal/info`` and the create answer are as the guide shows them (the fee as decided in
README "Money in and out": 0.3 % rounded up, tron a fixed 1 USDT; ``fee_percent`` names the
network's rule). Inferred: ``/users/me/withdrawal/pending`` answers ``{"withdrawal": W | null}``
and the cancel ``{"success": true, "request_id", "refunded", "message"}``; nothing pending to
cancel is 404 ``WITHDRAWAL_NOT_FOUND``. Error statuses are 400 as the error-handling page implies.
"""

from __future__ import annotations

from typing import Any

from pydantic import StrictInt, StrictStr

from predictql.models import Withdrawal
from predictql.rest_compat.routing import ApiRequest, StrictBody, endpoint
from predictql.services import withdrawals


def withdrawal_json(row: Withdrawal) -> dict[str, Any]:
    return {
        "id": row.id,
        "token": row.token,
        "network": row.network,
        "address": row.address,
        "amount": row.amount,
        "fee_amount": row.fee,
        "amount_sent": row.amount_sent,
        "status": row.status,
        "tx_hash": row.tx_hash,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


@endpoint("GET", "/withdrawal/info", auth="none")
async def info(api: ApiRequest) -> dict[str, Any]:
    found = withdrawals.info()
    return {
        "supported_networks": list(found.networks),
        "supported_tokens": list(found.tokens),
        "min_withdrawal_amount": found.min_amount / 100,
        "min_withdrawal_display": f"${found.min_amount / 100:.2f}",
        "fee_percent": found.fee_percent,
    }


class WithdrawBody(StrictBody):
    token: StrictStr
    network: StrictStr
    amount: StrictInt
    address: StrictStr


@endpoint("POST", "/users/me/withdraw", auth="required", body=WithdrawBody)
async def withdraw(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(WithdrawBody)
    async with api.db.transaction() as session:
        row = await withdrawals.request(
            session,
            api.actor,
            api.settings,
            token=body.token,
            network=body.network,
            amount=body.amount,
            address=body.address,
        )
    return {
        "success": True,
        "request_id": row.id,
        "amount_sent": row.amount_sent,
        "fee_amount": row.fee,
        "fee_percent": withdrawals.NETWORKS[row.network].fee_label,
        "message": "Withdrawal request submitted for approval.",
    }


@endpoint("GET", "/users/me/withdrawal/pending", auth="required")
async def pending(api: ApiRequest) -> dict[str, Any]:
    async with api.db.session() as session:
        row = await withdrawals.my_pending(session, api.actor)
    return {"withdrawal": withdrawal_json(row) if row is not None else None}


@endpoint("POST", "/users/me/withdrawal/pending/cancel", auth="required")
async def cancel_pending(api: ApiRequest) -> dict[str, Any]:
    async with api.db.transaction() as session:
        row = await withdrawals.cancel_pending(session, api.actor)
    return {
        "success": True,
        "request_id": row.id,
        "refunded": row.amount,
        "message": "Withdrawal cancelled; the amount is back on your balance.",
    }
