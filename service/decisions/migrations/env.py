"""Alembic's environment for the decision log: always run from
`service.decisions.store.DecisionStore.migrate`, which hands over an open connection."""

from alembic import context

from service.decisions.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
