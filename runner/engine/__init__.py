"""The DAG engine: plan, schedule, resolve inputs and outputs, record."""
