-- One database per service: each owns its schema and migrations.
CREATE DATABASE obup_orchestrator OWNER obup;
