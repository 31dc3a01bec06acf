"""Facts shared by the relay (service/), the stacks (stacks/) and the tools (loadtest/).

Each fact is written here once and imported by every side: the relay's environment
variables with their defaults and bounds (``contract.settings``), the metric names,
units and dimensions the relay emits and the dashboards, alarms and scaling policy read
(``contract.metrics``), and the wire protocol v1 limits clients must respect
(``contract.protocol``). The package imports only the standard library, so importing it
costs nothing and ties no side to another's dependencies.
"""
