"""Thin pykka actors: each handler calls pure logic in `bot/` and tells the results onward."""
