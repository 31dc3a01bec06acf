"""Running the shards of one load test as ECS Fargate tasks (stacks/loadgen.py).

`task.py` runs inside each task: one shard, its report uploaded to S3. `command.py` is
`python -m loadtest aws`: it starts the tasks, waits, downloads the reports and merges them.
Needs boto3 (loadtest/requirements.txt); nothing else in the tool imports this package.
"""
