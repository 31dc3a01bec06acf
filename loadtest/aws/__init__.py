"""Running the shards of one load test as ECS Fargate tasks (stacks/loadgen.py).

`task.py` runs inside each task: one shard, its report uploaded to S3. `command.py` is
`python -m loadtest aws`: it checks the arguments, starts the tasks (`fleet.py`) on the stage's
load-generator stack (`stack.py`), waits, downloads the reports and merges them.
Needs boto3 (loadtest/requirements.txt); only `python -m loadtest aws` imports this package.
"""
