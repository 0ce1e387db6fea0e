"""What searches and sweeps leave behind: Parquet schemas and tables, storage, MLflow tracking, reports, exports."""
