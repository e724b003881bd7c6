"""Function variables: create, list, get, update, delete. No events."""

from __future__ import annotations

from emulator.backend.context import Context
from emulator.backend.functions import get_function
from emulator.errors import VariableAlreadyExists, VariableNotFound
from emulator.ids import unique_id
from emulator.models import Variable
from emulator.store.variables import DuplicateKey


async def create_variable(ctx: Context, function_id: str, *, key: str, value: str) -> Variable:
    await get_function(ctx, function_id)
    now = ctx.clock()
    var = Variable(unique_id(), function_id, key, value, now, now)
    try:
        await ctx.variables.insert(var)
    except DuplicateKey:
        raise VariableAlreadyExists() from None
    return var


async def list_variables(ctx: Context, function_id: str) -> list[Variable]:
    return (await get_function(ctx, function_id)).vars


async def get_variable(ctx: Context, function_id: str, variable_id: str) -> Variable:
    await get_function(ctx, function_id)
    var = await ctx.variables.get(variable_id)
    if var is None or var.function_id != function_id:
        raise VariableNotFound()
    return var


async def update_variable(
    ctx: Context, function_id: str, variable_id: str, *, key: str, value: str | None
) -> Variable:
    """Set the key, and the value unless it is None (omitted: 1.3 keeps the value)."""
    var = await get_variable(ctx, function_id, variable_id)
    var.key = key
    if value is not None:
        var.value = value
    var.updated_at = ctx.clock()
    try:
        await ctx.variables.save(var)
    except DuplicateKey:
        raise VariableAlreadyExists() from None
    return var


async def delete_variable(ctx: Context, function_id: str, variable_id: str) -> None:
    await get_variable(ctx, function_id, variable_id)
    await ctx.variables.delete(variable_id)
