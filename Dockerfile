# The monitor (and its simulator) as one image: `blackmass run` or `blackmass simulate`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN pip install --no-cache-dir .
COPY config ./config
COPY seeds ./seeds
# served at /runbooks: the links in alert notifications open there
COPY docs/runbooks.md ./docs/runbooks.md
RUN useradd --system --home /data blackmass && mkdir -p /data && chown blackmass /data
USER blackmass
VOLUME ["/data"]
EXPOSE 9464 4840
ENTRYPOINT ["blackmass"]
CMD ["run", "--config", "/app/config/plant.toml", "--data-dir", "/data", "--host", "0.0.0.0", "--seeds", "/app/seeds"]
