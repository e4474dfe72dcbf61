"""The Streamlit UI (a thin client of the search service); arrives with the UI issue."""
