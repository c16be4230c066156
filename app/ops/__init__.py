"""Operations the playbooks run on a host with the release being deployed (`python -m app.ops`):
drain a worker before it restarts, wait for it to serve again."""
