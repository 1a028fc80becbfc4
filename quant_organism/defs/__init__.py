"""The Dagster layer: declares assets, checks, partitions, resources, jobs, schedules and sensors
per domain and calls the domain code. Nothing in the domain packages imports from here."""
