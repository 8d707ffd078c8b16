"""What a running gateway works with: the rules in force, its services, the member
handles, the clock."""
