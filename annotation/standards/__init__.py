"""Aesthetic standards as plain Python specs (no Django): the ground floor's definition of each built-in
standard. The database's ``Standard``/``Dimension`` rows are the runtime truth; these modules hold what
pure code (aggregation, the model core, prompts) needs without a database, and seed the rows."""
