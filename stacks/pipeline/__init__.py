"""The delivery pipeline: the stack (CDK Pipelines), its post-deploy steps, and the
acknowledged findings on what CDK Pipelines generates. Its settings: stacks/config/pipeline.py."""

from stacks.pipeline.stack import PIPELINE_STACK_NAME, PipelineProps, PipelineStack

__all__ = ["PIPELINE_STACK_NAME", "PipelineProps", "PipelineStack"]
