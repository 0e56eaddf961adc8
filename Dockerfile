# The flow image: the `flow` command and its engine. A detached run (`flow run --cluster --detach`) runs
# its engine from this image, as a driver pod in the cluster.
#
#   docker build -t registry.example/flow:0.1.0 .
#   docker push registry.example/flow:0.1.0
#   flow run pipeline.yaml --cluster --detach --driver-image registry.example/flow:0.1.0
#
# BASE_IMAGE may be any image with Python 3.11+ and pip. scripts/build-flow-image.sh builds it with no
# network, from a wheelhouse it puts in the build context (FLOW_PACKAGE and PIP_INSTALL_OPTIONS).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG FLOW_PACKAGE=/tmp/flow-src
# What a driver uses: the Kubernetes client, a PostgreSQL store, an s3:// root.
ARG FLOW_EXTRAS=k8s,s3,postgres
ARG PIP_INSTALL_OPTIONS=""
COPY . /tmp/flow-src
# PIP_INSTALL_OPTIONS is left unquoted on purpose: it holds several options.
RUN python3 -m pip install --no-cache-dir --disable-pip-version-check --no-warn-script-location \
        ${PIP_INSTALL_OPTIONS} "${FLOW_PACKAGE}[${FLOW_EXTRAS}]" \
    && rm -rf /tmp/flow-src \
    && flow --version

# The engine never needs root: it talks to the Kubernetes API and the run store over the network.
USER 65534:65534
ENV HOME=/tmp FLOW_HOME=/tmp/flow-home PYTHONUNBUFFERED=1
ENTRYPOINT ["flow"]
