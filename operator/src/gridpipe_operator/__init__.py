"""kopf operator reconciling GridPipeline resources on Kubernetes."""
