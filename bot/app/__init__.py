"""The application: settings, the routing directory, the supervisor that starts and stops the
actors, the run loop and the command line.
"""
