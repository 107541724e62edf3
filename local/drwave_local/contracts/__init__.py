"""Generated public contracts: event JSON Schemas and samples, the schema registry block, the OpenAPI document."""
