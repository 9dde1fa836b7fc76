"""rostra.actions"""
