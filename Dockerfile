# Build a static authgate binary, then run it as a non-root user on a
# minimal base. The embedded store and generated keys live in /data.
# .dockerignore keeps data/, .git and secrets out of the build context;
# the image's config is docker/gateway.yaml, which seeds no user (so no
# known password): docs/operations.md "Docker". docker/image_test.go
# checks all three files.
FROM golang:1.27.3-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/authgate . \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/authgate /usr/local/bin/authgate
COPY --from=build --chown=65532:65532 /out/data /data
COPY docker/gateway.yaml /etc/authgate/gateway.yaml
ENV AUTHGATE_CONFIG=/etc/authgate/gateway.yaml \
    AUTHGATE_DATA_DIR=/data
WORKDIR /
USER 65532:65532
EXPOSE 8080
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/authgate"]
CMD ["serve"]
