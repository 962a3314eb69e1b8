"""What the rig costs a day, and the floor that no price goes below (issue 16).

Pure arithmetic, one concern a module: `tariff` (the price of a kWh, averaged over the
horizon), `power` (the power figure: limits or measured draw, plus overhead), `fx` (exchange
rates and their sanity checks), `fees` (gross for a net), `floor` (the cost a day and the
floors). `observe` puts them together for one cycle: observe_costs -> CostObservation.
"""

from .observe import (
    COSTS_KIND,
    FX_STATE,
    CostObservation,
    fx_fact,
    observe_costs,
    observe_rates,
)

__all__ = ["COSTS_KIND", "FX_STATE", "CostObservation", "fx_fact", "observe_costs", "observe_rates"]
