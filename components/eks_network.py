"""An EKS cluster's own network (when no `vpcId` is given): a VPC with a public and a private subnet in each of two
zones, the nodes' egress through one NAT gateway. components.eks declares it first, under the cluster."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

VPC_CIDR = "10.0.0.0/16"
PUBLIC_CIDRS = ("10.0.0.0/20", "10.0.16.0/20")
PRIVATE_CIDRS = ("10.0.128.0/20", "10.0.144.0/20")


def vpc_network(
    name: str, child: pulumi.ResourceOptions, lookup: pulumi.InvokeOutputOptions
) -> list[pulumi.Input[str]]:
    """A VPC with a public and a private subnet in each of two zones; nodes egress through one NAT gateway."""
    zones = aws.get_availability_zones_output(state="available", opts=lookup)
    vpc = aws.ec2.Vpc(
        f"{name}-vpc",
        aws.ec2.VpcArgs(cidr_block=VPC_CIDR, enable_dns_hostnames=True, enable_dns_support=True),
        opts=child,
    )
    # The default security group of a new VPC allows all traffic between members: close it.
    aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", aws.ec2.DefaultSecurityGroupArgs(vpc_id=vpc.id), opts=child)
    gateway = aws.ec2.InternetGateway(f"{name}-igw", aws.ec2.InternetGatewayArgs(vpc_id=vpc.id), opts=child)
    public_routes = aws.ec2.RouteTable(
        f"{name}-public",
        aws.ec2.RouteTableArgs(
            vpc_id=vpc.id, routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)]
        ),
        opts=child,
    )
    public, private = _subnets(name, vpc, zones, public_routes, child)
    _nat_routes(name, vpc, child, gateway=gateway, nat_subnet=public[0], private=private)
    return [s.id for s in private]


def _subnets(
    name: str,
    vpc: aws.ec2.Vpc,
    zones: pulumi.Output[aws.GetAvailabilityZonesResult],
    public_routes: aws.ec2.RouteTable,
    child: pulumi.ResourceOptions,
) -> tuple[list[aws.ec2.Subnet], list[aws.ec2.Subnet]]:
    """A public subnet (routed to the internet gateway) and a private one in each of two zones."""

    def zone(index: int) -> pulumi.Output[str]:
        return zones.names.apply(lambda names: names[index])

    public, private = [], []
    for i, (public_cidr, private_cidr) in enumerate(zip(PUBLIC_CIDRS, PRIVATE_CIDRS, strict=True)):
        public_subnet = aws.ec2.Subnet(
            f"{name}-public-{i}",
            aws.ec2.SubnetArgs(
                vpc_id=vpc.id,
                cidr_block=public_cidr,
                availability_zone=zone(i),
                map_public_ip_on_launch=False,
                tags={"kubernetes.io/role/elb": "1"},
            ),
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-public-{i}",
            aws.ec2.RouteTableAssociationArgs(subnet_id=public_subnet.id, route_table_id=public_routes.id),
            opts=child,
        )
        public.append(public_subnet)
        private.append(
            aws.ec2.Subnet(
                f"{name}-private-{i}",
                aws.ec2.SubnetArgs(
                    vpc_id=vpc.id,
                    cidr_block=private_cidr,
                    availability_zone=zone(i),
                    tags={"kubernetes.io/role/internal-elb": "1"},
                ),
                opts=child,
            )
        )
    return public, private


def _nat_routes(
    name: str,
    vpc: aws.ec2.Vpc,
    child: pulumi.ResourceOptions,
    *,
    gateway: aws.ec2.InternetGateway,
    nat_subnet: aws.ec2.Subnet,
    private: list[aws.ec2.Subnet],
) -> None:
    """One NAT gateway in `nat_subnet` and the private subnets' route table through it."""
    nat_ip = aws.ec2.Eip(f"{name}-nat", aws.ec2.EipArgs(domain="vpc"), opts=child)
    nat = aws.ec2.NatGateway(
        f"{name}-nat",
        aws.ec2.NatGatewayArgs(subnet_id=nat_subnet.id, allocation_id=nat_ip.id),
        opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[gateway])),
    )
    private_routes = aws.ec2.RouteTable(
        f"{name}-private",
        aws.ec2.RouteTableArgs(
            vpc_id=vpc.id, routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)]
        ),
        opts=child,
    )
    for i, subnet in enumerate(private):
        aws.ec2.RouteTableAssociation(
            f"{name}-private-{i}",
            aws.ec2.RouteTableAssociationArgs(subnet_id=subnet.id, route_table_id=private_routes.id),
            opts=child,
        )
