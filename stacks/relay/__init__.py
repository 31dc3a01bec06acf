"""The relay's Fargate side: its task and container (`task`), the container's environment
(`environment`), capacity providers and autoscaling (`scaling`), and its own CloudWatch
metrics as CDK metrics (`metrics`). The service stack (stacks/service.py) puts them together."""
