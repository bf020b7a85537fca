"""The export function: from a trigger's event to one GES export and one downstream message per export."""
