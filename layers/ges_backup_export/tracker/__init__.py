"""The job tracker: follows every started export's GES job to its end and puts one completion event."""
