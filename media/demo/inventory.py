"""A small inventory of parts, used by `npm start` to show completions as you type."""

from dataclasses import dataclass, field


@dataclass
class Part:
    name: str
    price: float
    quantity: int = 0
    tags: list[str] = field(default_factory=list)

    def total_value(self) -> float:
        return self.price * self.quantity


class Inventory:
    def __init__(self) -> None:
        self.parts: dict[str, Part] = {}

    def add(self, part: Part) -> None:
        if part.name in self.parts:
            self.parts[part.name].quantity += part.quantity
        else:
            self.parts[part.name] = part

    def remove(self, name: str, quantity: int = 1) -> None:
        part = self.parts[name]
        if quantity > part.quantity:
            raise ValueError(f"only {part.quantity} of {name} left")
        part.quantity -= quantity

    def total_value(self) -> float:
        return sum(part.total_value() for part in self.parts.values())

    def find_by_tag(self, tag: str) -> list[Part]:
        return [part for part in self.parts.values() if tag in part.tags]

    def cheapest(self) -> Part | None:
        if not self.parts:
            return None
        return min(self.parts.values(), key=lambda part: part.price)


def main() -> None:
    inventory = Inventory()
    inventory.add(Part("bolt", 0.25, 100, ["metal"]))
    inventory.add(Part("gear", 4.5, 12, ["metal", "drive"]))
    inventory.add(Part("belt", 9.0, 3, ["drive"]))
    print(f"total value: {inventory.total_value():.2f}")
    print("drive parts:", [part.name for part in inventory.find_by_tag("drive")])


if __name__ == "__main__":
    main()
