"""Example warehouse-to-HubSpot pipelines."""
